import { useTranslation } from 'react-i18next';

import { I18N_NAMESPACE } from '../constants';

/** The user's console language as a BCP 47 tag for Intl ("zh-cn" → "zh-CN"). */
export const useLocale = (): string => {
  const { i18n } = useTranslation(I18N_NAMESPACE);
  const language = i18n.language || 'en';
  const [lang, region] = language.split('-');
  return region ? `${lang}-${region.toUpperCase()}` : lang;
};
