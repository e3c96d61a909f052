namespace Federated.Agent.Tests.Processes;

/// <summary>The real fed-agent process: help, and bad settings as one line with exit code 2.</summary>
public sealed class AgentCommandLineTests : IDisposable
{
    static readonly TimeSpan Exit = TimeSpan.FromSeconds(60);
    readonly string _dir = Directory.CreateTempSubdirectory("fed-agent-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Help_lists_the_settings_and_exits_zero()
    {
        using var agent = AgentProcess.Start(_dir, ["--help"]);
        Assert.Equal(0, await agent.WaitForExitAsync(Exit));
        foreach (var key in new[] { "Agent:Coordinator", "Agent:FederationId", "Agent:EnrollmentToken", "Agent:StateDirectory", "Agent:ModelDirectory",
                     "Agent:Data", "Agent:EvalData", "Agent:Device", "Agent:Precision", "Agent:MaxSequenceLength", "Agent:Seed",
                     "--upload-compression", "Agent:UploadCompression", "Agent:UploadCompressionFraction" })
            Assert.Contains(key, agent.Output);
    }

    [Fact]
    public async Task A_missing_setting_is_one_line_and_exit_code_2()
    {
        using var agent = AgentProcess.Start(_dir, ["--coordinator", "http://127.0.0.1:1"]);
        Assert.Equal(2, await agent.WaitForExitAsync(Exit));
        Assert.Equal("fed-agent: Agent:FederationId is required (the federation to join, as the operator created it)", Assert.Single(agent.Lines));
    }

    [Fact]
    public async Task Settings_come_from_environment_variables_and_flags_and_a_bad_value_names_its_key()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "model"));
        using var agent = AgentProcess.Start(_dir, ["--federation", "fed", "--token", "token-0123456789abcdef", "--model", model, "--Agent:MaxSequenceLength=many"],
            new Dictionary<string, string?> { ["Agent__Data"] = "/nonexistent.txt" });
        Assert.Equal(2, await agent.WaitForExitAsync(Exit));
        string line = Assert.Single(agent.Lines);
        Assert.StartsWith("fed-agent: ", line);
        Assert.Contains("MaxSequenceLength", line);
    }

    [Fact]
    public async Task An_unknown_upload_compression_flag_value_is_one_line_and_exit_code_2()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "model"));
        string data = TestFiles.TextSlice(Path.Combine(_dir, "data.txt"), "GPL-3", 0, 2000);
        using var agent = AgentProcess.Start(_dir, ["--federation", "fed", "--token", "token-0123456789abcdef", "--model", model, "--data", data,
            "--upload-compression", "gzip"]);
        Assert.Equal(2, await agent.WaitForExitAsync(Exit));
        Assert.Equal("fed-agent: Agent:UploadCompression must be none, int8, topk or ternary, not 'gzip'", Assert.Single(agent.Lines));
    }

    [Fact]
    public async Task A_malformed_data_file_is_one_line_and_exit_code_2()
    {
        string model = TestFiles.TinyModel(Path.Combine(_dir, "model"));
        string data = Path.Combine(_dir, "bad.jsonl");
        File.WriteAllText(data, "{\"instruction\": \"x\", \"output\": \"y\"}\nnot json\n");
        using var agent = AgentProcess.Start(_dir, ["--federation", "fed", "--token", "token-0123456789abcdef", "--model", model, "--data", data]);
        Assert.Equal(2, await agent.WaitForExitAsync(Exit));
        string line = Assert.Single(agent.Lines, l => l.StartsWith("fed-agent: ", StringComparison.Ordinal));
        Assert.Contains("bad.jsonl:2: malformed JSON", line);
    }
}
