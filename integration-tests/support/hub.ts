// A real hub for the dashboards, from the hub engineer's test support (backend/test/support/hub.ts):
// started in-process and seeded through its real ingestion paths (seedDemo).

export type RunningTestHub = {
  url: string;
  ca: string | null;
  tokens: { admin: string };
  seedDemo: () => Promise<void>;
  get: <T>(path: string) => Promise<{ status: number; body: T }>;
  stop: () => Promise<void>;
};

type HubSupport = { startTestHub: (opts?: { tls?: boolean }) => Promise<RunningTestHub> };

// A path in a variable: the backend is type-checked by its own tsconfig, not the plugin's.
const SUPPORT = '../../backend/test/support/hub.ts';

export type HubNode = { node: string; healthy: boolean; mountState: string };

export const startSeededHub = async (): Promise<RunningTestHub & { nodes: HubNode[] }> => {
  const support = (await import(SUPPORT)) as HubSupport;
  const hub = await support.startTestHub();
  await hub.seedDemo();
  const answer = await hub.get<{ items: HubNode[] }>('/api/v1/nodes');
  return Object.assign(hub, { nodes: answer.body.items });
};
