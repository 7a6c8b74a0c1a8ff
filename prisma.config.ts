// Prisma CLI configuration (prisma 7 reads the datasource URL from here, not
// from schema.prisma). The fallback URL only lets `prisma generate` run
// without a database; nothing connects to it.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://generate-only@localhost:5432/none' },
});
