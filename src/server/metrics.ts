import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { LedgerBacklog } from '../audit/audit-tree.ts';
import { errorBody, ErrorCode } from '../errors/errors.ts';

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The server's Prometheus metrics, on a registry of its own (so several
 * servers in one process, as in tests, do not share counters). Labels hold
 * operation names and codes only: never ids or patient data.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requestDuration = new Histogram({
    name: 'clinigraph_graphql_request_duration_seconds',
    help: 'GraphQL requests by operation and outcome',
    labelNames: ['operation', 'type', 'outcome'] as const,
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'clinigraph_graphql_errors_total',
    help: 'GraphQL errors by extensions.code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly databaseQueryDuration = new Histogram({
    name: 'clinigraph_db_query_duration_seconds',
    help: 'SQL statements sent by the Prisma client',
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly auditAppendDuration = new Histogram({
    name: 'clinigraph_audit_append_duration_seconds',
    help: 'Audit log appends (one transaction each, possibly many records)',
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly auditIntegrationLag = new Histogram({
    name: 'clinigraph_audit_integration_lag_seconds',
    help: 'From an audit entry being recorded to its inclusion in a signed checkpoint',
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly auditRecords = new Counter({
    name: 'clinigraph_audit_records_total',
    help: 'Audit records appended',
    registers: [this.registry],
  });
  readonly inferenceDuration = new Histogram({
    name: 'clinigraph_model_inference_duration_seconds',
    help: 'Model inference per tensor batch',
    labelNames: ['model'] as const,
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'clinigraph_model_batch_size',
    help: 'Predictions gathered into one tensor batch',
    labelNames: ['model'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });

  /** Clients name their operations, so only this many names become label values; later ones count as "other". */
  static readonly maxOperationLabels = 200;
  private readonly operationLabels = new Set<string>();

  /** The label value for an operation name: itself while the set of names is small, else "other". */
  operationLabel(name: string | null | undefined): string {
    if (!name) return 'anonymous';
    if (this.operationLabels.has(name)) return name;
    if (this.operationLabels.size >= Metrics.maxOperationLabels || name.length > 100) return 'other';
    this.operationLabels.add(name);
    return name;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'clinigraph_' });
  }

  /**
   * Gauges of the audit ledger's backlog, read from the database at each
   * scrape (a stalled sequencer shows as a growing queue and an ageing
   * checkpoint, whichever process should be integrating).
   */
  watchAuditLedger(backlog: () => Promise<LedgerBacklog>): void {
    let reading: Promise<LedgerBacklog | undefined> | undefined;
    // Both gauges of one scrape share one query; a database that does not answer leaves them as they were, and the rest of the scrape served.
    const read = () =>
      (reading ??= backlog()
        .catch(() => undefined)
        .finally(() => setImmediate(() => (reading = undefined))));
    const gauge = (name: string, help: string, value: (backlog: LedgerBacklog) => number | null) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          const backlog = await read();
          const current = backlog && value(backlog);
          if (current != null) this.set(current);
        },
      });
    gauge('clinigraph_audit_queued_entries', 'Committed audit entries not yet integrated into the signed tree', (backlog) => backlog.queued);
    gauge('clinigraph_audit_checkpoint_age_seconds', 'Seconds since the newest audit checkpoint was signed', (backlog) => backlog.checkpointAgeSeconds);
  }

  /** Serves /metrics; with a token set, only to callers that present it. */
  register(http: FastifyInstance, token: string | undefined): void {
    http.get('/metrics', async (request, reply) => {
      if (token && request.headers.authorization !== `Bearer ${token}`) {
        return reply.code(401).header('www-authenticate', 'Bearer').send(errorBody(ErrorCode.UNAUTHENTICATED, 'Metrics need the scraper token: send Authorization: Bearer <METRICS_TOKEN>.'));
      }
      return reply.header('content-type', this.registry.contentType).send(await this.registry.metrics());
    });
  }
}
