import type { AlertProps } from '@patternfly/react-core';
import { Alert as PfAlert } from '@patternfly/react-core';

import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';

/**
 * PatternFly's Alert with its screen-reader prefix ("Info alert:" …) in the user's language, and a
 * title that is not a heading unless the caller asks for one: an h4 under the page's h1 would skip
 * heading levels.
 */
const Alert = ({ variant = 'custom', component = 'p', ...props }: AlertProps) => {
  const { t } = useSlipstreamTranslation();
  const variantLabel = {
    success: t('Success alert:'),
    danger: t('Danger alert:'),
    warning: t('Warning alert:'),
    info: t('Info alert:'),
    custom: t('Alert:'),
  }[variant];
  return <PfAlert variant={variant} component={component} variantLabel={variantLabel} {...props} />;
};

export default Alert;
