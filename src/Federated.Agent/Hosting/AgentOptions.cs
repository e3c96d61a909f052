namespace Federated.Agent.Hosting;

/// <summary>The "Agent" configuration section (appsettings.json, Agent__* environment variables, flags).</summary>
public sealed class AgentOptions
{
    public const string Section = "Agent";

    /// <summary>
    /// The coordinator's gRPC address: http:// only on loopback, https:// otherwise. Several comma-separated addresses are
    /// the silos of one coordinator cluster: the agent uses the first and moves to the next when a call fails to reach it,
    /// and its enrollment holds at all of them.
    /// </summary>
    public string? Coordinator { get; set; } = "http://127.0.0.1:5081";
    /// <summary>
    /// Plaintext to a non-loopback coordinator, for a private network that nothing else reaches (a compose network)
    /// or behind a TLS-terminating sidecar. Credentials and adapters cross that network unencrypted.
    /// </summary>
    public bool AllowPlaintextOnNetwork { get; set; }
    /// <summary>PEM file of a CA to trust for the coordinator's TLS certificate (a private CA); the system store otherwise.</summary>
    public string? CaCertificate { get; set; }
    public string? FederationId { get; set; }
    /// <summary>Needed only to enroll; once the state directory holds a credential it is not used.</summary>
    public string? EnrollmentToken { get; set; }
    /// <summary>
    /// A file holding the enrollment token (e.g. a mounted Kubernetes Secret), instead of <see cref="EnrollmentToken"/>:
    /// a token on the command line or in the environment is readable by other processes and ends up in process listings.
    /// </summary>
    public string? EnrollmentTokenFile { get; set; }
    /// <summary>PEM client certificate for mutual TLS (the coordinator's <c>Coordinator:Agents:ClientCertificates</c>); needs <see cref="ClientKey"/>.</summary>
    public string? ClientCertificate { get; set; }
    /// <summary>PEM private key of <see cref="ClientCertificate"/> (PKCS#8 or the key type's own format, unencrypted).</summary>
    public string? ClientKey { get; set; }
    public string StateDirectory { get; set; } = "agent-state";
    /// <summary>An HF model directory (config.json, safetensors, tokenizer), e.g. from <c>fed model init</c>.</summary>
    public string? ModelDirectory { get; set; }
    /// <summary>Local training data: .jsonl instruction data or plain text.</summary>
    public string? Data { get; set; }
    /// <summary>Optional held-out data; its loss is reported before and after local training.</summary>
    public string? EvalData { get; set; }
    public string Device { get; set; } = "auto";
    /// <summary>Dtype of the frozen base weights: auto (bf16 on CUDA, fp32 on the CPU), fp32 or bf16. Updates stay float32.</summary>
    public string Precision { get; set; } = "auto";
    /// <summary>CPU threads libtorch trains with: 0 is its default (the physical cores); fewer leave the participant's machine room for its owner's work.</summary>
    public int TorchThreads { get; set; }
    /// <summary>GPU memory to report instead of the detected one (the rank policy reads it): a share of a GPU, or test agents.</summary>
    public long? GpuMemoryBytes { get; set; }
    public int MaxSequenceLength { get; set; } = 128;
    public int Seed { get; set; }
    /// <summary>Train at most at this rank even if the coordinator assigns more (less memory and upload).</summary>
    public int? MaxRank { get; set; }
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How long to wait before asking again once this round's update is in.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);
    public int UploadChunkBytes { get; set; } = 1 << 20;
    /// <summary>Caps the upload rate (shared links); unlimited when unset.</summary>
    public long? UploadBytesPerSecond { get; set; }
    /// <summary>
    /// How updates are sent: none (float32, the default), int8 (per-row scales, about 0.3 of float32), topk (the largest
    /// entries) or ternary (ComPEFT); the coordinator decompresses before aggregating.
    /// </summary>
    public string UploadCompression { get; set; } = "none";
    /// <summary>topk, ternary: the fraction of each factor's entries sent, in (0, 1].</summary>
    public double UploadCompressionFraction { get; set; } = 0.1;
    /// <summary>The longest pause between retries of a failed call.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>
    /// The largest adapter the agent downloads (a global adapter, the init adapter): a reference declaring more is refused
    /// before any byte is fetched, and a download stops at the size its reference declares.
    /// </summary>
    public long MaxAdapterBytes { get; set; } = DefaultMaxAdapterBytes;
    public const long DefaultMaxAdapterBytes = 4L << 30;
    /// <summary>How often local training saves its state, so a restarted agent loses at most this much of it; zero: every step.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(60);
}
