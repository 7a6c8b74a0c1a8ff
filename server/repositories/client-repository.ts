// Registered OAuth clients. Metadata is stored as the RFC 7591 JSON object
// oidc-provider validates; the secret only as a SHA-256 digest.
import type { PrismaClient, Prisma } from '../generated/prisma/client.ts';
import { ConflictError } from '../errors.ts';
import { isUniqueViolation } from './unique-violation.ts';

export type ClientMetadata = Record<string, unknown>;

export interface StoredClient {
  id: string;
  metadata: ClientMetadata;
  /** Lower-case hex SHA-256 of the secret; absent for public clients. */
  secretDigest: string | null;
  createdAt: Date;
}

export interface ClientRepository {
  /** Throws ConflictError when the id is taken. */
  create(client: { id: string; metadata: ClientMetadata; secretDigest: string | null }): Promise<StoredClient>;
  find(id: string): Promise<StoredClient | undefined>;
  list(): Promise<StoredClient[]>;
}

export function createClientRepository(prisma: PrismaClient): ClientRepository {
  const toStored = (row: { id: string; metadata: unknown; secretDigest: string | null; createdAt: Date }): StoredClient => ({
    id: row.id, metadata: row.metadata as ClientMetadata, secretDigest: row.secretDigest, createdAt: row.createdAt,
  });

  return {
    async create({ id, metadata, secretDigest }) {
      try {
        return toStored(await prisma.client.create({ data: { id, metadata: metadata as Prisma.InputJsonValue, secretDigest } }));
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`a client with id "${id}" already exists`);
        throw err;
      }
    },
    async find(id) {
      const row = await prisma.client.findUnique({ where: { id } });
      return row ? toStored(row) : undefined;
    },
    async list() {
      return (await prisma.client.findMany({ orderBy: { createdAt: 'asc' } })).map(toStored);
    },
  };
}
