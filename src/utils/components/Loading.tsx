import { Bullseye, Spinner } from '@patternfly/react-core';

import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';

const Loading = () => {
  const { t } = useSlipstreamTranslation();
  return (
    <Bullseye>
      <Spinner size="lg" aria-label={t('Loading')} />
    </Bullseye>
  );
};

export default Loading;
