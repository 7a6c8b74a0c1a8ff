-- CreateTable
CREATE TABLE "upstream_provider" (
    "id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "issuer" TEXT,
    "client_id" TEXT NOT NULL,
    "client_secret_encrypted" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "authorization_endpoint" TEXT,
    "token_endpoint" TEXT,
    "userinfo_endpoint" TEXT,
    "jwks_uri" TEXT,
    "auto_create" BOOLEAN NOT NULL DEFAULT true,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "upstream_provider_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "linked_identity" (
    "provider_id" TEXT NOT NULL,
    "upstream_sub" TEXT NOT NULL,
    "account_id" UUID NOT NULL,
    "email" TEXT,
    "email_verified" BOOLEAN NOT NULL DEFAULT false,
    "linked_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "linked_identity_pkey" PRIMARY KEY ("provider_id","upstream_sub")
);

-- CreateIndex
CREATE UNIQUE INDEX "linked_identity_account_id_provider_id_key" ON "linked_identity"("account_id", "provider_id");

-- AddForeignKey
ALTER TABLE "linked_identity" ADD CONSTRAINT "linked_identity_provider_id_fkey" FOREIGN KEY ("provider_id") REFERENCES "upstream_provider"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "linked_identity" ADD CONSTRAINT "linked_identity_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Added by hand: Prisma's schema language has no CHECK constraints (it
-- neither writes nor drops them). The id is part of the redirect URI
-- (/interaction/federated/<id>/callback); the types are the presets of
-- server/federation/presets.ts. The service checks both first, with
-- messages; these keep a hand-written INSERT from storing what it refuses.
ALTER TABLE "upstream_provider" ADD CONSTRAINT "upstream_provider_id_check" CHECK ("id" ~ '^[a-z0-9][a-z0-9-]{0,39}$');
ALTER TABLE "upstream_provider" ADD CONSTRAINT "upstream_provider_type_check" CHECK ("type" IN ('oidc', 'google', 'github', 'kakao', 'naver'));
