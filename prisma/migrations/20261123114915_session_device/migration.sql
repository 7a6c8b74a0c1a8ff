-- CreateTable
CREATE TABLE "session_device" (
    "session_uid" TEXT NOT NULL,
    "account_id" TEXT NOT NULL,
    "user_agent" TEXT,
    "ip" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "session_device_pkey" PRIMARY KEY ("session_uid")
);

-- CreateIndex
CREATE INDEX "session_device_account_id_idx" ON "session_device"("account_id");
