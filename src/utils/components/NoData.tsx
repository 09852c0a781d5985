import { EmptyState, EmptyStateBody } from '@patternfly/react-core';
import { SearchIcon } from '@patternfly/react-icons';

/** Empty state for a panel whose query returned nothing. */
const NoData = ({ title, body }: { title: string; body?: string }) => (
  <EmptyState titleText={title} headingLevel="h3" icon={SearchIcon} variant="sm">
    {body && <EmptyStateBody>{body}</EmptyStateBody>}
  </EmptyState>
);

export default NoData;
