// Jest stand-in for react-i18next: keys are the English strings (useKeysAsDefaultValue), so `t`
// returns the key with {{placeholders}} filled in; the language is English.
const interpolate = (key: string, options?: Record<string, unknown>) =>
  key.replace(/{{\s*(\w+)\s*}}/g, (_, name: string) =>
    String((options?.[name] as string | number | undefined) ?? ''),
  );

const i18n = { language: 'en', changeLanguage: jest.fn() };

export const useTranslation = () => ({ t: interpolate, i18n, ready: true });

export const Trans = ({ children }: { children?: unknown }) => children;

export const initReactI18next = { type: '3rdParty', init: () => undefined };
