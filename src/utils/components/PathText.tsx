import { Fragment } from 'react';

/**
 * A slash-separated name (namespace/pod, registry/repository:tag) that may break after each slash,
 * so a narrow table column wraps it at its parts instead of growing to its full length.
 */
const PathText = ({ text }: { text: string }) => (
  <>
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
  </>
);

export default PathText;
