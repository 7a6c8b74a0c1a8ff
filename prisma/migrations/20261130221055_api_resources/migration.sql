-- CreateTable
CREATE TABLE "api_resource" (
    "id" UUID NOT NULL,
    "identifier" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "scopes" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "access_token_ttl" INTEGER,
    "signing_alg" TEXT NOT NULL DEFAULT 'ES256',
    "require_dpop" BOOLEAN NOT NULL DEFAULT false,
    "jwks" JSONB,
    "jwks_uri" TEXT,
    "encrypt" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "api_resource_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "api_resource_identifier_key" ON "api_resource"("identifier");
