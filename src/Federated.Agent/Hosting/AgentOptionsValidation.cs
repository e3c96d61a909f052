using System.Net;
using Federated.Agent.Remote;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Federated.Agent.Rounds;
using Federated.Core.Compression;
using Federated.Training.Models;

namespace Federated.Agent.Hosting;

/// <summary>A setting the agent cannot start with; the message names the key and says what is expected.</summary>
public sealed class AgentConfigurationException(string message) : Exception(message);

/// <summary>Checks every setting before anything starts, so a mistake is one readable line, not a failure mid-round.</summary>
public static class AgentOptionsValidation
{
    const string S = AgentOptions.Section;

    /// <param name="enrolled">The state directory already holds a credential, so no enrollment token is needed.</param>
    /// <exception cref="AgentConfigurationException">The first invalid setting.</exception>
    /// <returns>The coordinator's addresses (<see cref="CoordinatorAddresses"/>).</returns>
    public static Uri[] Validate(AgentOptions o, bool enrolled)
    {
        var coordinator = CoordinatorAddresses(o.Coordinator, o.AllowPlaintextOnNetwork);
        if (o.CaCertificate is { } ca && !File.Exists(ca))
            throw Invalid($"{S}:CaCertificate: '{ca}' does not exist (a PEM file with the CA that signed the coordinator's certificate)");
        if (o.CaCertificate is { } file && !IsCertificate(file))
            throw Invalid($"{S}:CaCertificate: '{file}' is not a certificate (a PEM file with the CA that signed the coordinator's certificate)");
        ReadEnrollmentTokenFile(o);
        ValidateClientCertificate(o);
        if (string.IsNullOrWhiteSpace(o.FederationId))
            throw Invalid($"{S}:FederationId is required (the federation to join, as the operator created it)");
        if (!enrolled && string.IsNullOrWhiteSpace(o.EnrollmentToken))
            throw Invalid($"{S}:EnrollmentToken is required to enroll (issued by the coordinator's operator); {Path.GetFullPath(o.StateDirectory)} holds no credential yet");
        if (string.IsNullOrWhiteSpace(o.StateDirectory))
            throw Invalid($"{S}:StateDirectory must not be empty");
        if (string.IsNullOrWhiteSpace(o.ModelDirectory))
            throw Invalid($"{S}:ModelDirectory is required (an HF model directory, e.g. written by `fed model init`)");
        if (!File.Exists(Path.Combine(o.ModelDirectory, HfCheckpoint.ConfigFileName)))
            throw Invalid($"{S}:ModelDirectory: '{o.ModelDirectory}' is not a model directory (no {HfCheckpoint.ConfigFileName})");
        if (string.IsNullOrWhiteSpace(o.Data))
            throw Invalid($"{S}:Data is required (a .jsonl instruction file or a plain text file)");
        if (!File.Exists(o.Data))
            throw Invalid($"{S}:Data: '{o.Data}' does not exist");
        if (o.EvalData is { Length: > 0 } eval && !File.Exists(eval))
            throw Invalid($"{S}:EvalData: '{eval}' does not exist");
        if (o.Device.ToLowerInvariant() is not ("auto" or "cpu" or "cuda"))
            throw Invalid($"{S}:Device must be auto, cpu or cuda, not '{o.Device}'");
        if (o.Precision.ToLowerInvariant() is not ("auto" or "fp32" or "bf16"))
            throw Invalid($"{S}:Precision must be auto, fp32 or bf16, not '{o.Precision}'");
        if (o.TorchThreads < 0)
            throw Invalid($"{S}:TorchThreads must be 0 (libtorch's default, the physical cores) or a number of threads, not {o.TorchThreads}");
        if (o.MaxSequenceLength < 2)
            throw Invalid($"{S}:MaxSequenceLength must be at least 2, not {o.MaxSequenceLength}");
        if (o.GpuMemoryBytes is < 0)
            throw Invalid($"{S}:GpuMemoryBytes must not be negative, not {o.GpuMemoryBytes}");
        if (o.MaxRank is < 1)
            throw Invalid($"{S}:MaxRank must be positive, not {o.MaxRank}");
        if (o.HeartbeatInterval <= TimeSpan.Zero || o.PollInterval <= TimeSpan.Zero || o.MaxRetryDelay <= TimeSpan.Zero)
            throw Invalid($"{S}:HeartbeatInterval, PollInterval and MaxRetryDelay must be positive durations (e.g. 00:00:30)");
        if (o.CheckpointInterval < TimeSpan.Zero)
            throw Invalid($"{S}:CheckpointInterval must not be negative (00:00:00 saves after every step), not {o.CheckpointInterval}");
        if (o.UploadChunkBytes is < 1 or > 1 << 20)
            throw Invalid($"{S}:UploadChunkBytes must be between 1 and 1048576 (the coordinator's chunk limit), not {o.UploadChunkBytes}");
        if (o.MaxAdapterBytes < 1024)
            throw Invalid($"{S}:MaxAdapterBytes must be at least 1024 (the largest adapter to download, in bytes; default {AgentOptions.DefaultMaxAdapterBytes}), not {o.MaxAdapterBytes}");
        if (o.UploadBytesPerSecond is < 1)
            throw Invalid($"{S}:UploadBytesPerSecond must be positive, not {o.UploadBytesPerSecond}");
        if (!UploadCompression.IsSetting(o.UploadCompression))
            throw Invalid($"{S}:UploadCompression must be none, int8, topk or ternary, not '{o.UploadCompression}'");
        if (!AdapterCompressors.IsFraction(o.UploadCompressionFraction))
            throw Invalid($"{S}:UploadCompressionFraction must be in (0, 1] (the fraction of each factor sent by topk and ternary), not {o.UploadCompressionFraction}");
        return coordinator;
    }

    /// <summary>The token file's content becomes <see cref="AgentOptions.EnrollmentToken"/> (one of the two, not both).</summary>
    static void ReadEnrollmentTokenFile(AgentOptions o)
    {
        if (string.IsNullOrWhiteSpace(o.EnrollmentTokenFile)) return;
        if (!string.IsNullOrWhiteSpace(o.EnrollmentToken))
            throw Invalid($"{S}:EnrollmentToken and {S}:EnrollmentTokenFile are both set; set one (the file keeps the token off the command line)");
        var file = new FileInfo(o.EnrollmentTokenFile);
        if (!file.Exists)
            throw Invalid($"{S}:EnrollmentTokenFile: '{o.EnrollmentTokenFile}' does not exist");
        if (file.Length > 4096)
            throw Invalid($"{S}:EnrollmentTokenFile: '{o.EnrollmentTokenFile}' has {file.Length:N0} bytes; an enrollment token is one short line");
        o.EnrollmentToken = File.ReadAllText(file.FullName).Trim();
        if (o.EnrollmentToken.Length == 0)
            throw Invalid($"{S}:EnrollmentTokenFile: '{o.EnrollmentTokenFile}' is empty");
    }

    static void ValidateClientCertificate(AgentOptions o)
    {
        bool certificate = !string.IsNullOrWhiteSpace(o.ClientCertificate), key = !string.IsNullOrWhiteSpace(o.ClientKey);
        if (certificate != key)
            throw Invalid($"{S}:ClientCertificate and {S}:ClientKey go together (--client-cert and --client-key: PEM files of the certificate and its private key)");
        if (!certificate) return;
        foreach (var (name, path) in new[] { ("ClientCertificate", o.ClientCertificate!), ("ClientKey", o.ClientKey!) })
            if (!File.Exists(path))
                throw Invalid($"{S}:{name}: '{path}' does not exist");
        try
        {
            using var loaded = ClientCertificateFile.Load(o.ClientCertificate!, o.ClientKey!);
        }
        catch (CryptographicException e)
        {
            throw Invalid($"{S}:ClientCertificate/{S}:ClientKey: '{o.ClientCertificate}' and '{o.ClientKey}' are not a PEM certificate and its unencrypted private key ({e.Message})");
        }
    }

    /// <summary>One or more comma-separated addresses of the same coordinator (the silos of a cluster), each a <see cref="CoordinatorAddress"/>.</summary>
    public static Uri[] CoordinatorAddresses(string? value, bool allowPlaintextOnNetwork = false)
    {
        var addresses = (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(a => CoordinatorAddress(a, allowPlaintextOnNetwork)).Distinct().ToArray();
        return addresses.Length > 0 ? addresses : [CoordinatorAddress(null)];
    }

    /// <summary>An absolute http(s) URL; plaintext only to a loopback address, since credentials and adapters cross it.</summary>
    public static Uri CoordinatorAddress(string? value, bool allowPlaintextOnNetwork = false)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw Invalid($"{S}:Coordinator is required (the coordinator's gRPC address, e.g. https://coordinator.example:443 or http://127.0.0.1:5081)");
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw Invalid($"{S}:Coordinator: '{value}' is not an http:// or https:// URL");
        if (uri.Scheme == "http" && !IsLoopback(uri) && !allowPlaintextOnNetwork)
            throw Invalid($"{S}:Coordinator: '{value}' is plaintext to a non-loopback host; use https:// (plaintext is only for 127.0.0.1/localhost, " +
                $"or set {S}:AllowPlaintextOnNetwork on a private network)");
        return uri;
    }

    /// <summary>Loaded here so that a wrong file is a configuration mistake, not a crash when the connection opens.</summary>
    static bool IsCertificate(string path)
    {
        try
        {
            using var certificate = X509CertificateLoader.LoadCertificateFromFile(path);
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    public static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    static AgentConfigurationException Invalid(string message) => new(message);
}
