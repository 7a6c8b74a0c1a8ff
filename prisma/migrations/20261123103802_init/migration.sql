-- CreateTable
CREATE TABLE "oidc_model" (
    "model" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "uid" TEXT,
    "user_code" TEXT,
    "grant_id" TEXT,
    "account_id" TEXT,
    "consumed_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "oidc_model_pkey" PRIMARY KEY ("model","id")
);

-- CreateTable
CREATE TABLE "client" (
    "id" TEXT NOT NULL,
    "metadata" JSONB NOT NULL,
    "secret_digest" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "client_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "account" (
    "id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "email_verified" BOOLEAN NOT NULL DEFAULT false,
    "name" TEXT,
    "password_hash" TEXT NOT NULL,
    "roles" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "disabled" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "account_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "oidc_model_model_uid_idx" ON "oidc_model"("model", "uid");

-- CreateIndex
CREATE INDEX "oidc_model_model_user_code_idx" ON "oidc_model"("model", "user_code");

-- CreateIndex
CREATE INDEX "oidc_model_grant_id_idx" ON "oidc_model"("grant_id");

-- CreateIndex
CREATE INDEX "oidc_model_account_id_model_idx" ON "oidc_model"("account_id", "model");

-- CreateIndex
CREATE INDEX "oidc_model_expires_at_idx" ON "oidc_model"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "account_email_key" ON "account"("email");
