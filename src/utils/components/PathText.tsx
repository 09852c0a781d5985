import { Fragment } from 'react';

/**
 * A slash-separated name (namespace/pod, registry/repository:tag) that may break after each slash,
 * so a narrow table column wraps it at its parts instead of growing to its full length; a part too
 * long for the column (a 200-character pod name) breaks anywhere rather than widen the table.
 */
const PathText = ({ text }: { text: string }) => (
  <span className="slipstream__path">
    {text.split('/').map((part, i, parts) => (
      <Fragment key={i}>
        {part}
        {i < parts.length - 1 && (
          <>
            /<wbr />
          </>
        )}
      </Fragment>
    ))}
  </span>
);

export default PathText;
