import type { FastifyInstance } from 'fastify';
import type { Database } from '../db/database.ts';
import { pendingMigrations } from '../db/migrations.ts';
import { initTensorflow } from '../pipeline/index.ts';
import type { ModelServer } from '../predictions/model-server.ts';

/**
 * Load-balancer probes. /healthz: the process answers. /readyz: the database
 * answers, every migration is applied and the production models are loaded
 * and warmed up, so traffic can be routed here.
 */
export function registerHealthRoutes(app: FastifyInstance, db: Database, models: ModelServer): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const checks = {
      database: db.kind,
      databaseReachable: false,
      pendingMigrations: [] as string[],
      modelsWarm: models.ready,
      tensorflowBackend: (await initTensorflow()).backend,
    };
    try {
      await db.prisma.$queryRaw`SELECT 1`;
      checks.databaseReachable = true;
      checks.pendingMigrations = await pendingMigrations(db.prisma);
    } catch {
      // reported below as not ready
    }
    const ready = checks.databaseReachable && checks.pendingMigrations.length === 0 && checks.modelsWarm;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', ...checks });
  });
}
