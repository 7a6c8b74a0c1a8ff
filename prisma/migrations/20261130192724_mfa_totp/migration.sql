-- CreateTable
CREATE TABLE "totp_factor" (
    "account_id" UUID NOT NULL,
    "secret_encrypted" TEXT,
    "confirmed_at" TIMESTAMPTZ(3),
    "last_step" INTEGER NOT NULL DEFAULT -1,
    "last_used_at" TIMESTAMPTZ(3),
    "pending_secret_encrypted" TEXT,
    "pending_since" TIMESTAMPTZ(3),

    CONSTRAINT "totp_factor_pkey" PRIMARY KEY ("account_id")
);

-- CreateTable
CREATE TABLE "recovery_code_set" (
    "account_id" UUID NOT NULL,
    "digests" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "recovery_code_set_pkey" PRIMARY KEY ("account_id")
);

-- AddForeignKey
ALTER TABLE "totp_factor" ADD CONSTRAINT "totp_factor_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "recovery_code_set" ADD CONSTRAINT "recovery_code_set_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "account"("id") ON DELETE CASCADE ON UPDATE CASCADE;
