// One jest run, three projects:
//  - plugin:  the console plugin's components and pure functions (jsdom)
//  - backend: the slipstream CLI, agent and hub (node, native ESM; real services)
//  - browser: the built plugin in headless Debian chromium (playwright-core)
// ESM projects need `node --experimental-vm-modules` (`npm test` and scripts/test.sh pass it).

const swcTs = (module) => [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', tsx: true },
      transform: { react: { runtime: 'automatic' } },
      target: 'es2023',
    },
    module: { type: module },
  },
];

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'plugin',
      testEnvironment: 'jsdom',
      roots: ['<rootDir>/src'],
      testMatch: ['**/*.spec.ts', '**/*.spec.tsx'],
      transform: { '^.+\\.(t|j)sx?$': swcTs('commonjs') },
      transformIgnorePatterns: [
        '/node_modules/(?!(@patternfly|d3-|internmap|recharts|lodash-es)/)',
      ],
      moduleNameMapper: {
        '\\.(css|scss)$': '<rootDir>/__mocks__/styleMock.js',
        '\\.(svg|png|jpg)$': '<rootDir>/__mocks__/fileMock.js',
        // Root __mocks__ are not found automatically because roots is src/.
        '^@openshift-console/dynamic-plugin-sdk$':
          '<rootDir>/__mocks__/@openshift-console/dynamic-plugin-sdk.tsx',
        '^react-i18next$': '<rootDir>/__mocks__/react-i18next.ts',
      },
      setupFilesAfterEnv: ['<rootDir>/jest.setup-plugin.ts'],
    },
    {
      displayName: 'backend',
      testEnvironment: 'node',
      roots: ['<rootDir>/backend/test'],
      testMatch: ['**/*.test.ts'],
      extensionsToTreatAsEsm: ['.ts'],
      transform: { '^.+\\.ts$': swcTs('es6') },
    },
    {
      displayName: 'browser',
      testEnvironment: 'node',
      roots: ['<rootDir>/integration-tests'],
      testMatch: ['**/*.test.ts'],
      extensionsToTreatAsEsm: ['.ts'],
      transform: { '^.+\\.ts$': swcTs('es6') },
    },
  ],
};
