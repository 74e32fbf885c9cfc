-- CreateTable
CREATE TABLE "FhirObservationValueCoding" (
    "observationId" UUID NOT NULL,
    "system" TEXT NOT NULL,
    "code" TEXT NOT NULL,

    CONSTRAINT "FhirObservationValueCoding_pkey" PRIMARY KEY ("observationId")
);

-- AddForeignKey
ALTER TABLE "FhirObservationValueCoding" ADD CONSTRAINT "FhirObservationValueCoding_observationId_fkey" FOREIGN KEY ("observationId") REFERENCES "Observation"("id") ON DELETE CASCADE ON UPDATE CASCADE;
