import { useTranslation } from 'react-i18next';

import { I18N_NAMESPACE } from '../constants';

/** `t` of the plugin's namespace; every user-facing string goes through it. */
export const useSlipstreamTranslation = () => useTranslation(I18N_NAMESPACE);
