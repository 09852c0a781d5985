// Loads the built plugin the way the console does: fetch plugin-manifest.json, run its entry
// script (which calls window.__load_plugin_entry__ with the webpack container), init the container
// with a share scope holding the console-provided singletons, and resolve $codeRefs.

export type SharedModule = { name: string; version: string; module: unknown };

type ShareScope = Record<
  string,
  Record<string, { get: () => Promise<() => unknown>; from: string; eager: boolean; loaded?: 1 }>
>;

type Container = {
  init: (scope: ShareScope) => Promise<void> | void;
  get: (module: string) => Promise<() => Record<string, unknown>>;
};

export type Extension = {
  type: string;
  properties: Record<string, unknown>;
  flags?: { required?: string[]; disallowed?: string[] };
};

export type PluginManifest = {
  name: string;
  baseURL: string;
  loadScripts: string[];
  extensions: Extension[];
};

declare global {
  interface Window {
    __load_plugin_entry__?: (pluginId: string, container: Container) => void;
  }
}

const shareScope = (modules: SharedModule[]): ShareScope =>
  Object.fromEntries(
    modules.map(({ name, version, module }) => [
      name,
      {
        [version]: {
          get: () => Promise.resolve(() => module),
          from: 'console-host',
          eager: true,
          loaded: 1,
        },
      },
    ]),
  );

const loadScript = (src: string) =>
  new Promise<void>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = () => resolve();
    script.onerror = () => reject(new Error(`failed to load ${src}`));
    document.head.appendChild(script);
  });

export type LoadedPlugin = {
  manifest: PluginManifest;
  resolve: <T>(codeRef: string) => Promise<T>;
};

export const loadPlugin = async (name: string, shared: SharedModule[]): Promise<LoadedPlugin> => {
  const manifest = (await (
    await fetch(`/api/plugins/${name}/plugin-manifest.json`)
  ).json()) as PluginManifest;
  const container = await new Promise<Container>((resolve, reject) => {
    window.__load_plugin_entry__ = (pluginId, c) => {
      if (pluginId === name) resolve(c);
    };
    manifest.loadScripts
      .reduce(
        (prev, file) => prev.then(() => loadScript(`${manifest.baseURL}${file}`)),
        Promise.resolve(),
      )
      .catch(reject);
  });
  await container.init(shareScope(shared));
  return {
    manifest,
    resolve: async <T>(codeRef: string) => {
      const [moduleName, exportName = 'default'] = codeRef.split('.');
      const factory = await container.get(moduleName);
      const exported = factory()[exportName];
      if (exported === undefined) throw new Error(`missing export ${codeRef}`);
      return exported as T;
    },
  };
};
