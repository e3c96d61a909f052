namespace Federated.SystemTests.EndToEnd;

/// <summary>Tests that run after every other test of the assembly, one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "alone";
}
