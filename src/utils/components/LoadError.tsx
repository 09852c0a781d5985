import { Alert, Button } from '@patternfly/react-core';

import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';

/** An error from the hub or the API, with a retry when the caller can refetch. */
const LoadError = ({ error, onRetry }: { error: unknown; onRetry?: () => void }) => {
  const { t } = useSlipstreamTranslation();
  const message = error instanceof Error ? error.message : String(error);
  return (
    <Alert
      isInline
      variant="danger"
      title={t('Could not load data')}
      actionLinks={
        onRetry ? (
          <Button variant="link" isInline onClick={onRetry}>
            {t('Retry')}
          </Button>
        ) : undefined
      }
    >
      {message}
    </Alert>
  );
};

export default LoadError;
