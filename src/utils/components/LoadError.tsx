import { Button } from '@patternfly/react-core';

import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';
import { HubAnswerError, HubTimeoutError } from '../hub/hubClient';
import Alert from './Alert';

/** An error from the hub or the API, with a retry when the caller can refetch. */
const LoadError = ({ error, onRetry }: { error: unknown; onRetry?: () => void }) => {
  const { t } = useSlipstreamTranslation();
  const message =
    error instanceof HubAnswerError
      ? t('The hub answered with data this console plugin does not understand.')
      : error instanceof HubTimeoutError
        ? t('The hub did not answer within {{seconds}} seconds.', {
            seconds: error.timeoutMs / 1000,
          })
        : error instanceof Error
          ? error.message
          : String(error);
  return (
    <Alert
      isInline
      variant="danger"
      title={t('Could not load data')}
      data-test="load-error"
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
