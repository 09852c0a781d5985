// Entry of the host page: provides the console's shared modules (react, react-router, react-i18next,
// react-redux, redux, redux-thunk and the SDK shim) to the built plugin, sets up i18next like the
// console (namespace per plugin, `~` separator, no key separator), runs the plugin's console.flag
// handlers, and exposes a test handle on window.slipstreamHost.
import * as PatternFlyCore from '@patternfly/react-core';
import * as PatternFlyDataView from '@patternfly/react-data-view';
import * as PatternFlyTable from '@patternfly/react-table';
import i18next from 'i18next';
import React, { useState } from 'react';
import { createRoot } from 'react-dom/client';
import * as ReactI18next from 'react-i18next';
import { initReactI18next } from 'react-i18next';
import * as ReactRedux from 'react-redux';
import * as ReactRouter from 'react-router';
import { BrowserRouter } from 'react-router';
import * as Redux from 'redux';
import * as ReduxThunk from 'redux-thunk';

import HostApp from './HostApp';
import type { LoadedPlugin, SharedModule } from './pluginLoader';
import { loadPlugin } from './pluginLoader';
import * as sdk from './sdkShim';

declare const SHARED_VERSIONS: Record<string, string>;

const NAMESPACE = 'plugin__slipstream';
const LANGUAGES = ['en', 'ja', 'zh-cn', 'ko', 'fr', 'es'];

const loadLanguage = async (lng: string) => {
  const response = await fetch(`/api/plugins/slipstream/locales/${lng}/${NAMESPACE}.json`);
  i18next.addResourceBundle(lng, NAMESPACE, (await response.json()) as object, true, true);
  await i18next.changeLanguage(lng);
  document.documentElement.lang = lng;
};

// PatternFly is shared per component ("dynamic modules"): the console provides each
// @patternfly/<pkg>/dist/dynamic/... path the plugin asks for, so the plugin's own copies (fallbacks)
// are never loaded. The host serves them from the package index, which exports the same names.
// Icons are left to the plugin's fallbacks (the host does not bundle all of react-icons).
const PATTERNFLY: Record<string, unknown> = {
  '@patternfly/react-core': PatternFlyCore,
  '@patternfly/react-table': PatternFlyTable,
  '@patternfly/react-data-view': PatternFlyDataView,
};

const patternflyModules = async (): Promise<SharedModule[]> => {
  const requested = (await (await fetch('/host-assets/shared-modules.json')).json()) as string[];
  return requested.flatMap((name) => {
    const pkg = Object.keys(PATTERNFLY).find((p) => name.startsWith(`${p}/dist/dynamic/`));
    return pkg ? [{ name, version: SHARED_VERSIONS[pkg], module: PATTERNFLY[pkg] }] : [];
  });
};

const Root = ({ plugin }: { plugin: LoadedPlugin }) => {
  const [flags, setFlags] = useState<Record<string, boolean>>({ ...sdk.flags });
  window.slipstreamHost.setFlag = (flag: string, value: boolean) => {
    sdk.flags[flag] = value;
    setFlags({ ...sdk.flags });
  };
  const [, rerender] = useState(0);
  return (
    <BrowserRouter>
      <HostApp
        plugin={plugin}
        flags={flags}
        languages={LANGUAGES}
        onLanguage={(lng) => void loadLanguage(lng).then(() => rerender((n) => n + 1))}
      />
    </BrowserRouter>
  );
};

type HostHandle = {
  store: typeof sdk.store;
  access: typeof sdk.access;
  flags: typeof sdk.flags;
  ready: boolean;
  error?: string;
  setFlag: (flag: string, value: boolean) => void;
  setLanguage: (lng: string) => Promise<void>;
};

declare global {
  interface Window {
    slipstreamHost: HostHandle;
  }
}

window.slipstreamHost = {
  store: sdk.store,
  access: sdk.access,
  flags: sdk.flags,
  ready: false,
  setFlag: () => undefined,
  setLanguage: loadLanguage,
};

const start = async () => {
  // Objects the test put in place before the page loaded (recorded shapes).
  const given = window as { __seed?: Parameters<typeof sdk.store.put>; __allowed?: boolean };
  sdk.store.put(...(given.__seed ?? []));
  sdk.access.allowed = given.__allowed ?? true;
  await i18next.use(initReactI18next).init({
    lng: 'en',
    fallbackLng: 'en',
    // As the console: locale folders are lower case (zh-cn), so language codes are too.
    lowerCaseLng: true,
    ns: [NAMESPACE],
    defaultNS: NAMESPACE,
    keySeparator: false,
    nsSeparator: '~',
    interpolation: { escapeValue: false },
    resources: {},
  });
  await loadLanguage(new URLSearchParams(window.location.search).get('lng') ?? 'en');
  const plugin = await loadPlugin('slipstream', [
    { name: 'react', version: React.version, module: React },
    { name: 'react-router', version: SHARED_VERSIONS['react-router'], module: ReactRouter },
    { name: 'react-i18next', version: SHARED_VERSIONS['react-i18next'], module: ReactI18next },
    { name: 'react-redux', version: SHARED_VERSIONS['react-redux'], module: ReactRedux },
    { name: 'redux', version: SHARED_VERSIONS.redux, module: Redux },
    { name: 'redux-thunk', version: SHARED_VERSIONS['redux-thunk'], module: ReduxThunk },
    { name: '@openshift-console/dynamic-plugin-sdk', version: '4.22.0', module: sdk },
    ...(await patternflyModules()),
  ]);
  // Flags as the console computes them: every console.flag handler of the plugin runs once.
  const handlers = plugin.manifest.extensions.filter((e) => e.type === 'console.flag');
  await Promise.all(
    handlers.map(async (e) => {
      const handler = await plugin.resolve<(set: (flag: string, value: boolean) => void) => void>(
        (e.properties.handler as { $codeRef: string }).$codeRef,
      );
      handler((flag, value) => window.slipstreamHost.setFlag(flag, value));
    }),
  );
  const container = document.getElementById('root');
  if (!container) throw new Error('no #root');
  createRoot(container).render(<Root plugin={plugin} />);
  window.slipstreamHost.ready = true;
};

start().catch((e: unknown) => {
  window.slipstreamHost.error = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
});
