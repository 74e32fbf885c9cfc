import { auditedTransaction } from '../audit/audited-transaction.ts';
import type { BreakGlassGrant, CareTeamMember, Prisma } from '../generated/prisma/client.ts';
import { afterPosition, type Connection, encodeCursor, type KeysetPosition, toConnection } from '../graphql/paging.ts';
import type { RequestScope } from '../server/request-scope.ts';

/** Care-team membership and break-glass grants: who may reach which patient. */
export class CareTeamRepository {
  constructor(private readonly scope: RequestScope) {}

  async members(patientId: string): Promise<CareTeamMember[]> {
    await this.scope.access.requirePatients('patient.read', 'careTeam.read', [patientId]);
    return this.scope.prisma.careTeamMember.findMany({ where: { patientId }, orderBy: { addedAt: 'asc' } });
  }

  async add(patientId: string, clinicianSubject: string): Promise<void> {
    await this.scope.access.requirePatients('careTeam.manage', 'careTeam.add', [patientId]);
    await auditedTransaction(
      this.scope,
      (tx) =>
        tx.careTeamMember.upsert({
          where: { patientId_clinicianSubject: { patientId, clinicianSubject } },
          create: { patientId, clinicianSubject, addedBy: this.scope.access.subject },
          update: {},
        }),
      () => [memberEntry('careTeam.add', patientId, clinicianSubject)],
    );
    this.scope.access.forget(patientId);
  }

  async remove(patientId: string, clinicianSubject: string): Promise<void> {
    await this.scope.access.requirePatients('careTeam.manage', 'careTeam.remove', [patientId]);
    await auditedTransaction(
      this.scope,
      (tx) => tx.careTeamMember.deleteMany({ where: { patientId, clinicianSubject } }),
      () => [memberEntry('careTeam.remove', patientId, clinicianSubject)],
    );
    this.scope.access.forget(patientId);
  }

  /** Opens a grant for the calling clinician; the audit record of the opening is itself flagged. */
  async openBreakGlass(patientId: string, reason: string, minutes: number): Promise<BreakGlassGrant> {
    this.scope.access.require('breakGlass.open', 'breakGlass.open');
    const grantedAt = new Date();
    const grant = await auditedTransaction(
      this.scope,
      (tx) =>
        tx.breakGlassGrant.create({
          data: {
            clinicianSubject: this.scope.access.subject,
            patientId,
            reason,
            grantedAt,
            expiresAt: new Date(grantedAt.getTime() + minutes * 60_000),
          },
        }),
      (created) => [
        {
          action: 'breakGlass.open',
          outcome: 'SUCCESS',
          resourceType: 'BreakGlassGrant',
          resourceIds: [created.id],
          patientIds: [patientId],
          breakGlass: true,
        },
      ],
    );
    this.scope.access.forget(patientId);
    return grant;
  }

  async grants(filter: { from?: Date; to?: Date; clinicianSubject?: string }, first: number, after?: KeysetPosition): Promise<Connection<BreakGlassGrant>> {
    this.scope.access.require('audit.read', 'breakGlass.list');
    const where: Prisma.BreakGlassGrantWhereInput = {
      grantedAt: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lte: filter.to } : {}) },
      ...(filter.clinicianSubject ? { clinicianSubject: filter.clinicianSubject } : {}),
    };
    const rows = await this.scope.prisma.breakGlassGrant.findMany({
      where: { AND: [where, afterPosition(after, 'grantedAt')] },
      orderBy: [{ grantedAt: 'asc' }, { id: 'asc' }],
      take: first + 1,
    });
    this.scope.trail.note({
      action: 'breakGlass.list',
      resourceType: 'BreakGlassGrant',
      resourceIds: rows.slice(0, first).map((row) => row.id),
      patientIds: [...new Set(rows.slice(0, first).map((row) => row.patientId))],
    });
    return toConnection(rows, first, after !== undefined, () => this.scope.prisma.breakGlassGrant.count({ where }), (row) =>
      encodeCursor({ time: row.grantedAt, id: row.id }),
    );
  }
}

function memberEntry(action: string, patientId: string, clinicianSubject: string) {
  return {
    action,
    outcome: 'SUCCESS' as const,
    resourceType: 'CareTeamMember',
    resourceIds: [`${patientId}/${clinicianSubject}`],
    patientIds: [patientId],
  };
}
