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
    /// Whether the upload depends on the values of the attacker's own honest update (sign-flip and scaling transform it),
    /// or only on its layout (module shapes, adapter settings), as for attacks crafted from the honest updates: then an
    /// attacker need not train, and any honest update of the round, with the attacker's rank and alpha, serves as layout.
    /// </summary>
    bool ReadsOwnUpdate => true;

    /// <summary>
    /// The uploads of several attackers of one round, in order; each equals <see cref="Craft"/> of its context. An attack
    /// may share work between attackers who observe the same thing (omniscient attackers of a round all do).
    /// </summary>
    IReadOnlyList<LoraAdapter> CraftAll(IReadOnlyList<AttackContext> contexts) => contexts.Select(Craft).ToList();
}
