-- AlterTable
ALTER TABLE "Case" ADD COLUMN     "endedAt" TIMESTAMPTZ(3);
