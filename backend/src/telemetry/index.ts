// Public surface of the agent's telemetry: metrics, the report collector, the hub reporter.
export { TelemetryCollector, systemClock } from './collector.ts';
export type { Clock, CollectorOptions, LayerMount } from './collector.ts';
export { AgentMetrics, FallbackReasons, FuseOps, VerificationKinds } from './metrics.ts';
export type { FallbackReason, FuseOp, VerificationKind } from './metrics.ts';
export { listenOn, parseListenAddress, startMetricsServer } from './metrics-server.ts';
export type { MetricsServer } from './metrics-server.ts';
export { Reporter } from './reporter.ts';
export type { FlushResult, ReporterOptions, ReporterLog } from './reporter.ts';
export { AgentReportSchema } from './report.ts';
export type { AgentReport } from './report.ts';
