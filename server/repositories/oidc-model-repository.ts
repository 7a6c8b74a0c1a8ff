// Storage of oidc-provider's model instances (sessions, grants, codes,
// refresh tokens, interactions, ...) in the `oidc_model` table. The one place
// that knows how they are stored; oidc/adapter.ts only translates the
// library's adapter calls into these.
import type { PrismaClient, Prisma } from '../generated/prisma/client.ts';
import { storable } from './text.ts';
import { UnstorableValueError } from '../errors.ts';

/** The payload oidc-provider hands to its adapter: a plain JSON object. */
export type ModelPayload = Record<string, unknown>;

export interface OidcModelRepository {
  /** Throws UnstorableValueError when the payload holds a NUL character, which PostgreSQL cannot store. */
  upsert(model: string, id: string, payload: ModelPayload, expiresInSeconds?: number): Promise<void>;
  /** The payload, or undefined when absent or expired; `consumed` (epoch seconds) is set once consumed. */
  find(model: string, id: string): Promise<ModelPayload | undefined>;
  findByUid(model: string, uid: string): Promise<ModelPayload | undefined>;
  findByUserCode(model: string, userCode: string): Promise<ModelPayload | undefined>;
  /**
   * Marks the instance consumed if nobody has yet, as one conditional UPDATE:
   * of any number of concurrent callers exactly one gets `true`.
   */
  consume(model: string, id: string): Promise<boolean>;
  destroy(model: string, id: string): Promise<void>;
  /** Deletes every instance of `model` issued from one grant (a token family). */
  revokeByGrantId(model: string, grantId: string): Promise<void>;
  /** A user's instances of one model (their sessions, grants, refresh tokens), newest first. */
  listByAccount(model: string, accountId: string): Promise<Array<{ id: string; payload: ModelPayload }>>;
  /** Deletes up to `limit` expired instances; returns how many went. Bounded, so one pass never holds locks for long. */
  purgeExpired(limit: number): Promise<number>;
  /** The newest live instance of `model` one account holds for one client (a remembered consent). */
  findLatestForClient(model: string, accountId: string, clientId: string): Promise<{ id: string; payload: ModelPayload } | undefined>;
}

export function createOidcModelRepository(prisma: PrismaClient): OidcModelRepository {
  const notExpired = () => ({ OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] });

  const present = (row: { payload: unknown; consumedAt: Date | null } | null): ModelPayload | undefined => {
    if (!row) return undefined;
    const payload = row.payload as ModelPayload;
    return row.consumedAt ? { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) } : payload;
  };
  const select = { payload: true, consumedAt: true } as const;

  return {
    async upsert(model, id, payload, expiresInSeconds) {
      if (!storable(id) || JSON.stringify(payload).includes('\\u0000')) throw new UnstorableValueError();
      const expiresAt = expiresInSeconds ? new Date(Date.now() + expiresInSeconds * 1000) : null;
      const columns = {
        payload: payload as Prisma.InputJsonValue,
        uid: stringOrNull(payload.uid),
        userCode: stringOrNull(payload.userCode),
        grantId: stringOrNull(payload.grantId),
        accountId: stringOrNull(payload.accountId),
        expiresAt,
      };
      // `consumedAt` is left alone on update: saving a consumed token again must not revive it.
      await prisma.oidcModel.upsert({
        where: { model_id: { model, id } },
        create: { model, id, ...columns },
        update: columns,
      });
    },

    async find(model, id) {
      if (!storable(id)) return undefined;
      return present(await prisma.oidcModel.findFirst({ where: { model, id, ...notExpired() }, select }));
    },

    async findByUid(model, uid) {
      if (!storable(uid)) return undefined;
      return present(await prisma.oidcModel.findFirst({ where: { model, uid, ...notExpired() }, select }));
    },

    async findByUserCode(model, userCode) {
      if (!storable(userCode)) return undefined;
      return present(await prisma.oidcModel.findFirst({ where: { model, userCode, ...notExpired() }, select }));
    },

    async consume(model, id) {
      if (!storable(id)) return false;
      const { count } = await prisma.oidcModel.updateMany({
        where: { model, id, consumedAt: null },
        data: { consumedAt: new Date() },
      });
      return count === 1;
    },

    async destroy(model, id) {
      if (!storable(id)) return;
      await prisma.oidcModel.deleteMany({ where: { model, id } });
    },

    async revokeByGrantId(model, grantId) {
      if (!storable(grantId)) return;
      await prisma.oidcModel.deleteMany({ where: { model, grantId } });
    },

    async listByAccount(model, accountId) {
      if (!storable(accountId)) return [];
      const rows = await prisma.oidcModel.findMany({
        where: { model, accountId, ...notExpired() },
        select: { id: true, payload: true },
        orderBy: { createdAt: 'desc' },
      });
      return rows.map((r) => ({ id: r.id, payload: r.payload as ModelPayload }));
    },

    async purgeExpired(limit) {
      return prisma.$executeRaw`
        DELETE FROM oidc_model WHERE (model, id) IN (
          SELECT model, id FROM oidc_model WHERE expires_at < now() LIMIT ${limit}
        )`;
    },

    async findLatestForClient(model, accountId, clientId) {
      if (!storable(accountId) || !storable(clientId)) return undefined;
      const row = await prisma.oidcModel.findFirst({
        where: { model, accountId, payload: { path: ['clientId'], equals: clientId }, ...notExpired() },
        select: { id: true, payload: true },
        orderBy: { createdAt: 'desc' },
      });
      return row ? { id: row.id, payload: row.payload as ModelPayload } : undefined;
    },
  };
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}
