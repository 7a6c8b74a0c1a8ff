-- AlterTable
ALTER TABLE "account" ADD COLUMN     "organisation" TEXT;
