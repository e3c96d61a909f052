using Federated.Agent.State;
using Federated.SystemTests.Processes;

namespace Federated.SystemTests.EndToEnd;

/// <summary>
/// Agents against a coordinator that serves their gRPC over TLS (cluster mode, certificate from PEM files, a private
/// CA): the agent given that CA completes a round; an agent that cannot trust the certificate stops at once with one
/// line naming the certificate problem, and never enrolls.
/// </summary>
public sealed class TlsFederationTests(TlsCoordinator coordinator) : IClassFixture<TlsCoordinator>
{
    static readonly TimeSpan Enroll = TimeSpan.FromSeconds(60), Round = TimeSpan.FromMinutes(2), Exit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_agent_trusting_the_private_CA_enrolls_over_TLS_and_completes_a_round()
    {
        const string federation = "tls";
        await coordinator.Admin.CreateFederationAsync(federation, new
        {
            baseModel = "tiny-llama", targetModules = new[] { "q_proj", "v_proj" },
            rankPolicy = new { cpuRank = 2, tiers = Array.Empty<object>() }, training = new { localSteps = 2, batchSize = 4, learningRate = 0.01 },
            rounds = 1, clientsPerRound = 1, quorum = 1, roundDeadline = "5m",
        });
        using var agent = AgentProcess.Start(coordinator.Directory, coordinator.AgentArgs(federation, "state-trusted", "--ca-cert", coordinator.Pki.CaCertificate));
        try
        {
            await coordinator.Admin.StartWhenEnrolledAsync(federation, Enroll);
            var done = await coordinator.Admin.WaitForStatusAsync(federation, "Completed", Round);
            Assert.Equal(1, done["completedRounds"]!.GetValue<int>());
            Assert.Equal(0, await agent.WaitForExitAsync(Exit));
            Assert.Contains(agent.Lines, l => l.Contains($"Round {federation}/1: update ACCEPTED", StringComparison.Ordinal));
        }
        catch
        {
            Console.WriteLine(agent.Output);
            Console.WriteLine(coordinator.Output);
            throw;
        }
    }

    [Fact]
    public async Task An_agent_without_the_CA_stops_with_one_line_naming_the_untrusted_certificate_and_never_enrolls()
    {
        using var agent = AgentProcess.Start(coordinator.Directory, coordinator.AgentArgs("tls-untrusted", "state-no-ca"));
        await AssertRefusesCertificateAsync(agent, "state-no-ca");
    }

    [Fact]
    public async Task An_agent_trusting_another_CA_stops_with_one_line_naming_the_untrusted_certificate_and_never_enrolls()
    {
        var other = TestCertificates.PrivatePki(coordinator.Directory, prefix: "other-");
        using var agent = AgentProcess.Start(coordinator.Directory, coordinator.AgentArgs("tls-other-ca", "state-other-ca", "--ca-cert", other.CaCertificate));
        await AssertRefusesCertificateAsync(agent, "state-other-ca");
    }

    async Task AssertRefusesCertificateAsync(AgentProcess agent, string state)
    {
        int exit = await agent.WaitForExitAsync(Exit);
        Assert.True(exit == 1, $"exit {exit}:\n{agent.Output}");
        // Not retried as if the coordinator were down: one line says what is wrong with the certificate and what to set.
        Assert.DoesNotContain(agent.Lines, l => l.Contains("retry", StringComparison.Ordinal));
        string line = Assert.Single(agent.Lines, l => l.Contains("fed-agent stopped", StringComparison.Ordinal));
        // The server sends its certificate without the CA, so no chain reaches a root this agent trusts.
        foreach (string part in new[] { $"cannot establish TLS with the coordinator at {coordinator.Grpc}", "certificate chain: PartialChain", "Agent:CaCertificate" })
            Assert.True(line.Contains(part, StringComparison.Ordinal), $"'{part}' not in: {line}");
        Assert.DoesNotContain(agent.Lines, l => l.StartsWith("at ", StringComparison.Ordinal)); // no stack trace
        Assert.False(AgentStateStore.HasIdentity(Path.Combine(coordinator.Directory, state)), "no credential without a trusted coordinator");
    }
}
