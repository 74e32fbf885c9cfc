-- CreateTable
CREATE TABLE "FhirObservationCoding" (
    "observationId" UUID NOT NULL,
    "system" TEXT NOT NULL,
    "code" TEXT NOT NULL,

    CONSTRAINT "FhirObservationCoding_pkey" PRIMARY KEY ("observationId","system","code")
);

-- AddForeignKey
ALTER TABLE "FhirObservationCoding" ADD CONSTRAINT "FhirObservationCoding_observationId_fkey" FOREIGN KEY ("observationId") REFERENCES "Observation"("id") ON DELETE CASCADE ON UPDATE CASCADE;
