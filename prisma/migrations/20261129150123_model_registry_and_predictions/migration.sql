-- CreateEnum
CREATE TYPE "ModelTask" AS ENUM ('BINARY', 'MULTICLASS', 'REGRESSION', 'IMAGE');

-- CreateEnum
CREATE TYPE "ModelStage" AS ENUM ('CANDIDATE', 'PRODUCTION', 'ARCHIVED');

-- CreateEnum
CREATE TYPE "TrainingJobStatus" AS ENUM ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED');

-- CreateEnum
CREATE TYPE "ReviewDecision" AS ENUM ('AGREE', 'DISAGREE');

-- CreateTable
CREATE TABLE "Model" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "task" "ModelTask" NOT NULL,
    "target" TEXT NOT NULL,
    "description" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Model_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ModelVersion" (
    "id" UUID NOT NULL,
    "modelId" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "stage" "ModelStage" NOT NULL DEFAULT 'CANDIDATE',
    "result" JSONB NOT NULL,
    "weights" BYTEA NOT NULL,
    "weightsSha256" TEXT NOT NULL,
    "datasetSha256" TEXT NOT NULL,
    "cardText" JSONB NOT NULL,
    "tfjsVersion" TEXT NOT NULL,
    "backend" TEXT NOT NULL,
    "seed" INTEGER NOT NULL,
    "trainedBy" TEXT NOT NULL,
    "trainedAt" TIMESTAMPTZ(3) NOT NULL,
    "promotedBy" TEXT,
    "promotedAt" TIMESTAMPTZ(3),
    "promotionComment" TEXT,

    CONSTRAINT "ModelVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TrainingJob" (
    "id" UUID NOT NULL,
    "modelName" TEXT NOT NULL,
    "status" "TrainingJobStatus" NOT NULL DEFAULT 'QUEUED',
    "options" JSONB NOT NULL,
    "progress" JSONB,
    "error" TEXT,
    "modelVersionId" UUID,
    "requestedBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMPTZ(3),
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "TrainingJob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Prediction" (
    "id" UUID NOT NULL,
    "caseId" UUID NOT NULL,
    "patientId" UUID NOT NULL,
    "modelVersionId" UUID NOT NULL,
    "input" JSONB NOT NULL,
    "output" JSONB NOT NULL,
    "explanation" JSONB,
    "qualityFlags" JSONB NOT NULL,
    "requestedBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "latencyMs" DOUBLE PRECISION NOT NULL,
    "reviewDecision" "ReviewDecision",
    "reviewNote" TEXT,
    "reviewedBy" TEXT,
    "reviewedAt" TIMESTAMPTZ(3),

    CONSTRAINT "Prediction_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "CaseOutcome" (
    "id" UUID NOT NULL,
    "caseId" UUID NOT NULL,
    "patientId" UUID NOT NULL,
    "target" TEXT NOT NULL,
    "label" TEXT,
    "value" DOUBLE PRECISION,
    "recordedBy" TEXT NOT NULL,
    "recordedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "CaseOutcome_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Model_name_key" ON "Model"("name");

-- CreateIndex
CREATE INDEX "ModelVersion_modelId_stage_idx" ON "ModelVersion"("modelId", "stage");

-- CreateIndex
CREATE UNIQUE INDEX "ModelVersion_modelId_version_key" ON "ModelVersion"("modelId", "version");

-- CreateIndex
CREATE INDEX "TrainingJob_createdAt_idx" ON "TrainingJob"("createdAt");

-- CreateIndex
CREATE INDEX "Prediction_caseId_createdAt_idx" ON "Prediction"("caseId", "createdAt");

-- CreateIndex
CREATE INDEX "Prediction_modelVersionId_createdAt_idx" ON "Prediction"("modelVersionId", "createdAt");

-- CreateIndex
CREATE INDEX "CaseOutcome_target_idx" ON "CaseOutcome"("target");

-- CreateIndex
CREATE UNIQUE INDEX "CaseOutcome_caseId_target_key" ON "CaseOutcome"("caseId", "target");

-- AddForeignKey
ALTER TABLE "ModelVersion" ADD CONSTRAINT "ModelVersion_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Prediction" ADD CONSTRAINT "Prediction_caseId_fkey" FOREIGN KEY ("caseId") REFERENCES "Case"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Prediction" ADD CONSTRAINT "Prediction_modelVersionId_fkey" FOREIGN KEY ("modelVersionId") REFERENCES "ModelVersion"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "CaseOutcome" ADD CONSTRAINT "CaseOutcome_caseId_fkey" FOREIGN KEY ("caseId") REFERENCES "Case"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- At most one production version per model, whatever the application does
-- (written by hand: the Prisma schema cannot express a partial index).
CREATE UNIQUE INDEX "ModelVersion_one_production_per_model" ON "ModelVersion"("modelId") WHERE "stage" = 'PRODUCTION';
