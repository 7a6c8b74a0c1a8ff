-- AlterTable
ALTER TABLE "account" ALTER COLUMN "password_hash" DROP NOT NULL;

-- AlterTable
ALTER TABLE "session_device" ADD COLUMN     "idp" TEXT,
ADD COLUMN     "idp_auth_time" INTEGER;
