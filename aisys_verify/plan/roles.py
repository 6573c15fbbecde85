"""Which role each agent plays, and which agents each role calls at run time: what the topology needs of roles.

The role decides the run-time edges (a coordinator calls NLU, chitchat, memory...; every agent registers
with the registries; a second host's observability hub syncs to the first's), so the choice lives here,
with the edges, and the stand-ins (``aisys_verify.standin.roles``) only implement each role's behaviour.
Chosen by a default table keyed by agent name, overridable per agent with ``role:`` in the startup
config; an agent's ``calls:`` overrides its role's default calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from aisys_verify.spec.model import Agent

ROLES = ("registry", "twin", "coordinator", "memory", "memory-client", "language", "gpu", "observability",
         "gateway", "emotion", "generic")
REGISTRY_ROLES = frozenset({"registry", "twin"})  # every agent registers with each agent of these roles

DEFAULT_ROLES: dict[str, str] = {
    "ServiceRegistry": "registry",
    "SystemDigitalTwin": "twin",
    "RequestCoordinator": "coordinator",
    "MemoryClient": "memory-client",
    "MemoryOrchestratorService": "memory",
    "SessionMemoryAgent": "memory",
    "KnowledgeBase": "memory",
    "NLUAgent": "language",
    "ChitchatAgent": "language",
    "Responder": "language",
    "IntentionValidatorAgent": "language",
    "TranslationService": "language",
    "FixedStreamingTranslation": "language",
    "StreamingLanguageAnalyzer": "language",
    "ModelManagerSuite": "gpu",
    "FaceRecognitionAgent": "gpu",
    "STTService": "gpu",
    "TTSService": "gpu",
    "StreamingTTSAgent": "gpu",
    "StreamingSpeechRecognition": "gpu",
    "ChainOfThoughtAgent": "gpu",
    "GoTToTAgent": "gpu",
    "CognitiveModelAgent": "gpu",
    "TinyLlamaServiceEnhanced": "gpu",
    "NLLBAdapter": "gpu",
    "SelfTrainingOrchestrator": "gpu",
    "LocalFineTunerAgent": "gpu",
    "LearningAdjusterAgent": "gpu",
    "VisionProcessingAgent": "gpu",
    "DreamWorldAgent": "gpu",
    "DreamingModeAgent": "gpu",
    "ObservabilityHub": "observability",
    "UnifiedWebAgent": "gateway",
    "EmotionSynthesisAgent": "emotion",
}

# Run-time calls per role, by agent name: (name, critical). A non-critical target being down
# degrades an answer instead of failing it. An agent's ``calls:`` in the spec replaces its role's.
ROLE_CALLS: dict[str, tuple[tuple[str, bool], ...]] = {
    "coordinator": (("NLUAgent", True), ("ChitchatAgent", True), ("MemoryClient", False),
                    ("StreamingTTSAgent", False), ("ChainOfThoughtAgent", False)),
    "memory-client": (("MemoryOrchestratorService", True),),
    "gateway": (("RequestCoordinator", True), ("MemoryOrchestratorService", True)),
}


@dataclass(frozen=True)
class RoleChoice:
    role: str
    source: str  # "spec" or "default table"


def role_for(name: str, declared: str | None) -> RoleChoice:
    if declared:
        return RoleChoice(declared, "spec")
    return RoleChoice(DEFAULT_ROLES.get(name, "generic"), "default table")


def calls_of(agent: Agent) -> tuple[tuple[str, bool], ...]:
    """(callee name, critical) of every run-time call of ``agent``: the spec's ``calls:`` when it declares
    them (an empty list: none), else its role's defaults."""
    if agent.calls is not None:
        return tuple((call.name, call.critical) for call in agent.calls)
    return ROLE_CALLS.get(role_for(agent.name, agent.role).role, ())
