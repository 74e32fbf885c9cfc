import DataLoader from 'dataloader';
import type { Prisma } from '../generated/prisma/client.ts';
import type { Permission } from './permissions.ts';

/**
 * Records by id among the patients within reach, batched per request: one
 * DataLoader per permission, whose statement carries the access filter, so a
 * record that does not exist and one out of reach cost the same (used with
 * OwnedRecordStore.find).
 */
export class ByIdWithinReach<T extends { id: string }> {
  private readonly loaders = new Map<Permission, DataLoader<string, T | null>>();

  /** @param query the rows with these ids whose patients match `within` */
  constructor(private readonly query: (ids: string[], within: Prisma.PatientWhereInput) => Promise<T[]>) {}

  load(permission: Permission, within: Prisma.PatientWhereInput, id: string): Promise<T | null> {
    let loader = this.loaders.get(permission);
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const rows = await this.query([...ids], within);
        return ids.map((key) => rows.find((row) => row.id === key) ?? null);
      });
      this.loaders.set(permission, loader);
    }
    return loader.load(id);
  }

  /** Keeps a row already checked for a permission (read in a list of a patient within reach). */
  prime(permission: Permission, row: T): void {
    this.loaders.get(permission)?.prime(row.id, row);
  }

  /** Forgets a row before this request changes it. */
  forget(id: string): void {
    for (const loader of this.loaders.values()) loader.clear(id);
  }
}
