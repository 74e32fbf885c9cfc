import { defaultModels, readShippedModel } from '../pipeline/index.ts';
import type { Scope } from '../access/scope.ts';
import { ModelRepository } from './model.repository.ts';

/**
 * Puts the models shipped in models/defaults into the registry as version 1,
 * in production, unless a model of that name is already there (so a restart,
 * or a second replica, changes nothing).
 * @returns the names installed now
 */
export async function installDefaultModels(scope: Scope): Promise<string[]> {
  const registry = new ModelRepository(scope);
  const installed: string[] = [];
  for (const model of defaultModels) {
    if (await registry.findByName(model.name)) continue;
    const shipped = await readShippedModel(model.name);
    await registry
      .addVersion({ name: model.name, description: model.card.intendedUse }, shipped.result, model.card, {
        comment: 'Shipped default model, trained by scripts/train-defaults.ts from datasets/.',
      })
      .then(() => installed.push(model.name))
      // Another replica starting at the same moment may have installed it first.
      .catch(async (error) => {
        if (!(await registry.findByName(model.name))) throw error;
      });
  }
  return installed;
}
