using System.Reflection;
using Federated.Agent.Hosting;

namespace Federated.Agent.Tests.Unit;

/// <summary>What the shipped processes load: attack code exists for simulations and tests, never in a coordinator or agent.</summary>
public sealed class ProductionAssemblyTests
{
    [Theory]
    [InlineData(typeof(AgentHost))]
    [InlineData(typeof(Federated.Coordinator.Hosting.CoordinatorApplication))]
    public void The_coordinator_and_the_agent_reference_no_attack_code(Type entry)
    {
        // The host's assembly (fed-agent, Federated.Coordinator) and every project assembly it reaches.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<Assembly>([entry.Assembly]);
        while (pending.TryPop(out var assembly))
            foreach (var reference in assembly.GetReferencedAssemblies())
                if (reference.Name is { } name && name.StartsWith("Federated.", StringComparison.Ordinal) && seen.Add(name))
                    pending.Push(Assembly.Load(reference));

        Assert.Contains("Federated.Core", seen); // the walk reaches the projects below the host
        Assert.DoesNotContain("Federated.Attacks", seen);
    }
}
