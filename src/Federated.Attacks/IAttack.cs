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
}
