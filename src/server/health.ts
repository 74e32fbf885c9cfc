import type { FastifyInstance } from 'fastify';
import { type LedgerBacklog, ledgerStalled } from '../audit/audit-tree.ts';
import type { Database } from '../db/database.ts';
import { pendingMigrations } from '../db/migrations.ts';
import { initTensorflow } from '../pipeline/index.ts';
import type { ModelServer } from '../predictions/model-server.ts';

/** How long /readyz waits for the database before it answers "not ready". */
const readinessTimeoutMs = 2_000;

/**
 * Load-balancer probes. /healthz: the process answers. /readyz: the database
 * answers, every migration is applied and the production models are loaded
 * and warmed up, so traffic can be routed here. It also reports the audit
 * ledger, `degraded` when its sequencer has stalled (see ledgerStalled),
 * without making the server unready: entries still commit with their writes
 * and are integrated once a sequencer runs again, and every replica shares
 * the one stalled sequencer, so taking them out of rotation would only turn
 * a stalled integration into an outage.
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  db: Database,
  models: ModelServer,
  audit: { ledger: { backlog(): Promise<LedgerBacklog> }; stallSeconds: number },
): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const checks = {
      database: db.kind,
      databaseReachable: false,
      pendingMigrations: [] as string[],
      modelsWarm: models.ready,
      tensorflowBackend: (await initTensorflow()).backend,
      auditLedger: undefined as ({ status: 'ok' | 'degraded' } & LedgerBacklog) | undefined,
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      // A database that does not answer (partition) must read as not ready now, not hang the probe.
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error('readiness check timed out')), readinessTimeoutMs);
      });
      await Promise.race([
        (async () => {
          await db.prisma.$queryRaw`SELECT 1`;
          checks.databaseReachable = true;
          checks.pendingMigrations = await pendingMigrations(db.prisma);
          if (checks.pendingMigrations.length === 0) {
            const backlog = await audit.ledger.backlog();
            checks.auditLedger = { status: ledgerStalled(backlog, audit.stallSeconds) ? 'degraded' : 'ok', ...backlog };
          }
        })(),
        timeout,
      ]);
    } catch {
      checks.databaseReachable = false; // reported below as not ready
    } finally {
      clearTimeout(timer);
    }
    const ready = checks.databaseReachable && checks.pendingMigrations.length === 0 && checks.modelsWarm;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', ...checks });
  });
}
