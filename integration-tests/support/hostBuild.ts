// Bundles the host page's script (integration-tests/host/host.tsx): React, the router, i18next and
// the SDK shim that the host shares into the plugin's module-federation scope.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import webpack from 'webpack';

import { HOST_SRC, node_modules } from './paths';

const versionOf = (name: string): string =>
  (JSON.parse(readFileSync(node_modules(name, 'package.json'), 'utf8')) as { version: string })
    .version;

export const buildHost = (outDir: string): Promise<void> => {
  const compiler = webpack({
    mode: 'production',
    devtool: false,
    entry: join(HOST_SRC, 'host.tsx'),
    output: { path: outDir, filename: 'host.js' },
    resolve: { extensions: ['.ts', '.tsx', '.js'] },
    module: {
      rules: [
        {
          test: /\.tsx?$/,
          exclude: /node_modules/,
          use: {
            loader: 'swc-loader',
            options: {
              jsc: {
                parser: { syntax: 'typescript', tsx: true },
                transform: { react: { runtime: 'automatic' } },
                target: 'es2021',
              },
            },
          },
        },
      ],
    },
    optimization: { minimize: false },
    plugins: [
      new webpack.DefinePlugin({
        SHARED_VERSIONS: JSON.stringify(
          Object.fromEntries(
            [
              'react-router',
              'react-i18next',
              'react-redux',
              'redux',
              'redux-thunk',
              '@patternfly/react-core',
              '@patternfly/react-table',
              '@patternfly/react-data-view',
            ].map((n) => [n, versionOf(n)]),
          ),
        ),
      }),
    ],
  });
  return new Promise((resolve, reject) => {
    compiler.run((error, stats) => {
      compiler.close(() => undefined);
      if (error) reject(error);
      else if (stats?.hasErrors()) reject(new Error(stats.toString('errors-only')));
      else resolve();
    });
  });
};
