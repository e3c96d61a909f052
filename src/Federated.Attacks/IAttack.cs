using Federated.Core.Adapters;

namespace Federated.Attacks;

/// <summary>
/// A Byzantine client's strategy: the LoRA adapter it uploads instead of its honest update.
/// Inputs are not modified or disposed; the result owns new float32 tensors.
/// </summary>
public interface IAttack
{
    /// <summary>The name used on the command line and in simulation configs (kebab-case).</summary>
    string Name { get; }

    LoraAdapter Craft(AttackContext context);

    /// <summary>
    /// The uploads of several attackers of one round, in order; each equals <see cref="Craft"/> of its context. An attack
    /// may share work between attackers who observe the same thing (omniscient attackers of a round all do).
    /// </summary>
    IReadOnlyList<LoraAdapter> CraftAll(IReadOnlyList<AttackContext> contexts) => contexts.Select(Craft).ToList();
}
