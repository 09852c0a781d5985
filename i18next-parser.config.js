// i18next-parser configuration (as the console plugin template does): keys are the English strings,
// `~` separates the namespace, there is no key separator. Every locale is generated; English values
// default to the key, other locales must be translated (the extraction check fails on empty values).
// A small lexer pulls the %plugin__slipstream~…% labels out of console-extensions.json.

class ConsoleExtensionsLexer {
  constructor() {
    this.events = { on: () => undefined };
  }

  on() {
    return this;
  }

  extract(content) {
    const keys = [];
    const pattern = /%plugin__slipstream~([^%]+)%/g;
    let match;
    while ((match = pattern.exec(content)) !== null) keys.push({ key: match[1] });
    return keys;
  }
}

module.exports = {
  input: [
    'src/**/*.{ts,tsx}',
    'console-extensions.json',
    '!src/**/*.spec.{ts,tsx}',
    '!src/utils/fixtures/**',
  ],
  output: process.env.I18N_OUTPUT ?? 'locales/$LOCALE/$NAMESPACE.json',
  locales: ['en', 'ja', 'zh-cn', 'ko', 'fr', 'es'],
  defaultNamespace: 'plugin__slipstream',
  keySeparator: false,
  namespaceSeparator: '~',
  pluralSeparator: '_',
  createOldCatalogs: false,
  keepRemoved: false,
  sort: true,
  indentation: 2,
  defaultValue: (locale, _namespace, key) => (locale === 'en' ? key : ''),
  lexers: {
    ts: [{ lexer: 'JavascriptLexer', functions: ['t'] }],
    tsx: [{ lexer: 'JsxLexer', functions: ['t'] }],
    json: [ConsoleExtensionsLexer],
    default: ['JavascriptLexer'],
  },
};
