// Group commit for agent reports. A commit costs far more than the rows of one report (WAL append
// and, every few commits, a checkpoint), so reports that arrive together are written in one
// transaction: the first report of a batch waits at most one event-loop turn for company. Each
// agent still gets its answer only after its report is committed.
import type { AgentReport } from '../telemetry/report.ts';
import type { HubIngest, ReportOutcome } from './ingest.ts';

const MAX_BATCH = 256;

interface Pending {
  report: AgentReport;
  resolve: (outcome: ReportOutcome) => void;
  reject: (error: Error) => void;
}

export class ReportBatcher {
  private readonly ingest: HubIngest;
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(ingest: HubIngest) {
    this.ingest = ingest;
  }

  submit(report: AgentReport): Promise<ReportOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ report, resolve, reject });
      if (this.queue.length >= MAX_BATCH) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      const outcomes = this.ingest.ingestReports(batch.map((p) => p.report));
      batch.forEach((p, i) => p.resolve(outcomes[i]));
    } catch (error) {
      // One bad report must not sink the others: retry them one by one.
      for (const p of batch) {
        try {
          p.resolve(this.ingest.ingestReport(p.report));
        } catch (single) {
          p.reject(single as Error);
        }
      }
      void error;
    }
  }
}
