// A miniature console: navigation and routes come from the plugin's own extensions (flags
// applied, labels translated), resource tabs get their object from the store, and the cluster
// dashboard renders every console.dashboards/card.
import type { K8sResourceCommon } from '@openshift-console/dynamic-plugin-sdk';
import type { ComponentType } from 'react';
import { lazy, Suspense } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Route, Routes, useParams } from 'react-router';

import type { Extension, LoadedPlugin } from './pluginLoader';
import { store } from './sdkShim';

type CodeRef = { $codeRef: string };

const enabled = (e: Extension, flags: Record<string, boolean>) =>
  (e.flags?.required ?? []).every((f) => flags[f]) &&
  (e.flags?.disallowed ?? []).every((f) => !flags[f]);

type Resolved = ComponentType<{ obj?: K8sResourceCommon }>;

// One lazy component per codeRef for the page's lifetime: a lazy() created inside a component that
// suspends before mounting would be recreated on every retry and never resolve.
const lazyComponents = new Map<string, Resolved>();
const codeRefComponent = (plugin: LoadedPlugin, ref: CodeRef): Resolved => {
  let component = lazyComponents.get(ref.$codeRef);
  if (!component) {
    component = lazy(async () => ({ default: await plugin.resolve<Resolved>(ref.$codeRef) }));
    lazyComponents.set(ref.$codeRef, component);
  }
  return component;
};

const Page = ({
  plugin,
  codeRef,
  obj,
}: {
  plugin: LoadedPlugin;
  codeRef: CodeRef;
  obj?: K8sResourceCommon;
}) => {
  const Component = codeRefComponent(plugin, codeRef);
  return (
    <Suspense fallback={<p>Loading plugin module…</p>}>
      <Component obj={obj} />
    </Suspense>
  );
};

const ResourceTab = ({
  plugin,
  codeRef,
  kind,
}: {
  plugin: LoadedPlugin;
  codeRef: CodeRef;
  kind: string;
}) => {
  const { name = '', ns } = useParams();
  const obj = store.get(kind, name, ns);
  if (!obj) return <p>{`${kind} ${name} not found`}</p>;
  return <Page plugin={plugin} codeRef={codeRef} obj={obj} />;
};

const label = (text: string, t: (key: string) => string) =>
  text.startsWith('%') ? t(text.slice(1, -1)) : text;

const tabPath = (model: { group?: string; version: string; kind: string }, href: string) =>
  model.kind === 'Pod'
    ? `/k8s/ns/:ns/pods/:name/${href}`
    : `/k8s/cluster/${model.group}~${model.version}~${model.kind}/:name/${href}`;

const HostApp = ({
  plugin,
  flags,
  languages,
  onLanguage,
}: {
  plugin: LoadedPlugin;
  flags: Record<string, boolean>;
  languages: string[];
  onLanguage: (lng: string) => void;
}) => {
  const { t, i18n } = useTranslation();
  const extensions = plugin.manifest.extensions.filter((e) => enabled(e, flags));
  const of = (type: string) => extensions.filter((e) => e.type === type);
  return (
    <div className="host">
      <nav className="host__nav" aria-label="Host navigation">
        {of('console.navigation/href').map((e) => (
          <Link
            key={String(e.properties.id)}
            to={String(e.properties.href)}
            data-test={`nav-${String(e.properties.id)}`}
          >
            {label(String(e.properties.name), t)}
          </Link>
        ))}
        {of('console.tab/horizontalNav').map((e) => {
          const model = e.properties.model as { kind: string };
          const page = e.properties.page as { name: string; href: string };
          const to =
            model.kind === 'Pod'
              ? `/k8s/ns/shop/pods/checkout-7d9f8b6c5d-x2lq4/${page.href}`
              : `/k8s/cluster/machineconfiguration.openshift.io~v1~MachineConfigPool/worker/${page.href}`;
          return (
            <Link key={page.href} to={to} data-test={`tab-link-${page.href}`}>
              {`${model.kind}: ${label(page.name, t)}`}
            </Link>
          );
        })}
        <Link to="/dashboards" data-test="nav-cluster-overview">
          Cluster overview
        </Link>
        <select
          aria-label="Language"
          data-test="language"
          value={i18n.language}
          onChange={(e) => onLanguage(e.target.value)}
        >
          {languages.map((lng) => (
            <option key={lng} value={lng}>
              {lng}
            </option>
          ))}
        </select>
      </nav>
      <main className="host__main">
        <Routes>
          {of('console.page/route').map((e) => (
            <Route
              key={String(e.properties.path)}
              path={String(e.properties.path)}
              element={<Page plugin={plugin} codeRef={e.properties.component as CodeRef} />}
            />
          ))}
          {of('console.tab/horizontalNav').map((e) => {
            const model = e.properties.model as { group?: string; version: string; kind: string };
            const page = e.properties.page as { href: string };
            return (
              <Route
                key={page.href}
                path={tabPath(model, page.href)}
                element={
                  <ResourceTab
                    plugin={plugin}
                    codeRef={e.properties.component as CodeRef}
                    kind={model.kind}
                  />
                }
              />
            );
          })}
          <Route
            path="/dashboards"
            element={
              <div data-test="cluster-dashboard">
                {of('console.dashboards/card').map((e, i) => (
                  <Page key={i} plugin={plugin} codeRef={e.properties.component as CodeRef} />
                ))}
              </div>
            }
          />
          <Route path="*" element={<p>Host ready</p>} />
        </Routes>
      </main>
    </div>
  );
};

export default HostApp;
