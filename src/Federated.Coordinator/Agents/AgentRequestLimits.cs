using Federated.Contracts;
using Federated.Protocol.V1;
using Federated.Grains;

namespace Federated.Coordinator.Agents;

/// <summary>
/// Bounds on every string an agent sends, checked before it is stored, logged or used as a key: InvalidArgument that says
/// which field and what is allowed, never echoing the value (it may be huge or hold control characters).
/// </summary>
public static class AgentRequestLimits
{
    public const int MaxDeviceLength = 32, MaxAgentVersionLength = 64, MaxGpuNameLength = 128;

    public static void Register(RegisterRequest request)
    {
        Federation(request.FederationId, "federation_id");
        if (request.EnrollmentToken.Length is 0 or > EnrollmentTokenLimits.MaxTokenLength)
            throw AgentStatus.Invalid($"enrollment_token: {request.EnrollmentToken.Length:N0} characters; a token has 1 to {EnrollmentTokenLimits.MaxTokenLength}");
        Device(request.Device);
    }

    public static void Device(DeviceInfo? device)
    {
        if (device is null) return; // the caller says it is required
        if (device.Device.Length > MaxDeviceLength || !device.Device.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or ':' or '.'))
            throw AgentStatus.Invalid($"device.device: {device.Device.Length:N0} characters; at most {MaxDeviceLength} letters, digits, '-', '_', ':' or '.' (e.g. cpu, cuda)");
        Printable(device.AgentVersion, MaxAgentVersionLength, "device.agent_version");
        Printable(device.GpuName, MaxGpuNameLength, "device.gpu_name");
    }

    public static void Upload(UploadHeader header)
    {
        Federation(header.FederationId, "header.federation_id");
        UploadId(header.UploadId, "header.upload_id");
        if (!StoredUpdate.IsWellFormed(new StoredUpdate(header.Sha256, Math.Max(header.Size, 1))))
            throw AgentStatus.Invalid("header.sha256: 64 lowercase hex digits are required");
    }

    public static void UploadId(string id, string field = "upload_id")
    {
        if (id.Length is 0 or > 64 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            throw AgentStatus.Invalid($"{field}: {id.Length:N0} characters; use 1 to 64 letters, digits, '-' or '_'");
    }

    static void Federation(string id, string field)
    {
        if (!GrainKeys.IsValidId(id))
            throw AgentStatus.Invalid($"{field}: not a federation id (1 to 64 letters, digits, '-', '_' or '.'; {id.Length:N0} characters given)");
    }

    static void Printable(string value, int max, string field)
    {
        if (value.Length > max || value.Any(char.IsControl))
            throw AgentStatus.Invalid($"{field}: {value.Length:N0} characters; at most {max} printable ones");
    }
}
