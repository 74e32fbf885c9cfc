import type { PrismaClient } from '../generated/prisma/client.ts';
import type { FeatureInfo } from '../pipeline/index.ts';

/** A version in production: its model's name and its stored features (with their codes when its specification gave them). */
export interface ProductionFeatures {
  modelName: string;
  features: FeatureInfo[];
}

/**
 * What the code catalog is built from: the model versions in production and
 * their stored feature specifications. Read as the server, not as a caller:
 * which codes the models read is no one's clinical data.
 */
export class ProductionFeaturesRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** The ids of the versions in production, in a stable order: what tells the catalog it is out of date. */
  async versionIds(): Promise<string> {
    return (await this.prisma.modelVersion.findMany({ where: { stage: 'PRODUCTION' }, select: { id: true }, orderBy: { id: 'asc' } })).map((row) => row.id).join(',');
  }

  /** The versions in production, their models oldest registered first (the first keeps a code two models share). */
  async versions(): Promise<ProductionFeatures[]> {
    const rows = await this.prisma.modelVersion.findMany({ where: { stage: 'PRODUCTION' }, select: { result: true, model: { select: { name: true } } }, orderBy: [{ model: { createdAt: 'asc' } }, { id: 'asc' }] });
    return rows.map((row) => ({ modelName: row.model.name, features: (row.result as { features?: FeatureInfo[] }).features ?? [] }));
  }
}
