CREATE TABLE "device_usage" (
	"device_id" text NOT NULL,
	"org_id" text NOT NULL,
	"cycle" text NOT NULL,
	"messages" integer DEFAULT 0 NOT NULL,
	"ai_runs" integer DEFAULT 0 NOT NULL,
	"updated_at" bigint NOT NULL,
	CONSTRAINT "device_usage_device_id_cycle_pk" PRIMARY KEY("device_id","cycle")
);
--> statement-breakpoint
ALTER TABLE "device_usage" ADD CONSTRAINT "device_usage_device_id_devices_id_fk" FOREIGN KEY ("device_id") REFERENCES "public"."devices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "device_usage_org" ON "device_usage" USING btree ("org_id","cycle");