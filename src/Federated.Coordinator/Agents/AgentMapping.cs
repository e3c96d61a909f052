using Federated.Contracts;
using Federated.Grains;
using Federated.Protocol.V1;
using Federated.Storage;
using Google.Protobuf.WellKnownTypes;

namespace Federated.Coordinator.Agents;

/// <summary>Between the agent protocol's messages and the grains' records; no decisions.</summary>
static class AgentMapping
{
    public static GetTaskResponse ToResponse(ClientStep step) => step switch
    {
        WaitStep wait => new() { Wait = new Wait { RetryAfter = Duration.FromTimeSpan(wait.RetryAfter), Reason = wait.Reason } },
        DoneStep done => new()
        {
            Done = new Done
            {
                Reason = done.Reason, Status = done.Status == FederationStatus.Failed ? DoneStatus.Failed : DoneStatus.Completed,
                FinalAdapter = Ref(done.FinalAdapter), FinalModel = Ref(done.FinalModel),
            },
        },
        TrainStep train => new() { Task = ToTask(train.Assignment) },
        _ => throw new ArgumentOutOfRangeException(nameof(step), step, "unknown step"),
    };

    public static TrainingTask ToTask(Assignment assignment)
    {
        var task = new TrainingTask
        {
            FederationId = assignment.FederationId,
            Round = assignment.Round,
            BaseModel = assignment.BaseModel,
            Rank = assignment.Rank,
            LoraAlpha = assignment.Alpha,
            Training = new Protocol.V1.TrainingPlan
            {
                LocalSteps = assignment.Training.LocalSteps,
                BatchSize = assignment.Training.BatchSize,
                LearningRate = assignment.Training.LearningRate,
                LoraDropout = assignment.Training.LoraDropout,
            },
            Deadline = Timestamp.FromDateTime(DateTime.SpecifyKind(assignment.Deadline, DateTimeKind.Utc)),
            Submitted = assignment.Submitted,
            InitAdapter = Ref(assignment.Init),
            Frozen = assignment.FreezeA ? FrozenFactors.A : FrozenFactors.None,
            Seed = assignment.Seed,
            Strategy = assignment.Strategy ?? "",
        };
        task.TargetModules.Add(assignment.TargetModules);
        task.GlobalAdapters.Add((assignment.History ?? []).Select(d => new RoundAdapter { Round = d.Round, Adapter = Ref(d.Adapter) }));
        return task;
    }

    /// <summary>An upload that ended short of its size, or whose submission the round accepted.</summary>
    public static UploadUpdateResponse ToResponse(UploadOutcome outcome)
    {
        if (outcome.Update is null)
            return new UploadUpdateResponse { Status = "INCOMPLETE", UploadStatus = UploadStatus.Incomplete, AcknowledgedOffset = outcome.AcknowledgedOffset };
        bool duplicate = outcome.Receipt?.Status == SubmissionStatus.Duplicate;
        return new UploadUpdateResponse
        {
            Status = duplicate ? "DUPLICATE" : "ACCEPTED",
            UploadStatus = duplicate ? UploadStatus.Duplicate : UploadStatus.Accepted,
            Update = Ref(outcome.Update),
            AcknowledgedOffset = outcome.AcknowledgedOffset,
        };
    }

    /// <exception cref="Grpc.Core.RpcException">InvalidArgument for a missing device name or negative GPU memory.</exception>
    public static ClientCapabilities Capabilities(DeviceInfo? device)
    {
        AgentRequestLimits.Device(device);
        if (device is null || string.IsNullOrWhiteSpace(device.Device) || device.GpuMemoryBytes < 0)
            throw AgentStatus.Invalid("device: a device name (cpu or cuda) and non-negative GPU memory are required");
        return new ClientCapabilities(device.Device, device.GpuMemoryBytes, string.IsNullOrEmpty(device.AgentVersion) ? null : device.AgentVersion);
    }

    public static AdapterRef? Ref(StoredUpdate? update) => update is null ? null : new AdapterRef { Sha256 = update.Sha256, Size = update.Size };

    /// <summary>Null for anything but a well-formed reference (a SHA-256 and a positive size).</summary>
    public static StoredUpdate? ReferenceOf(AdapterRef? adapter) =>
        adapter is not null && new StoredUpdate(adapter.Sha256, adapter.Size) is var reference && StoredUpdate.IsWellFormed(reference) ? reference : null;

    /// <summary>0 for none, as the protocol's expiry fields read it.</summary>
    public static long UnixSeconds(DateTime? at) => at is { } t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)).ToUnixTimeSeconds() : 0;
}
